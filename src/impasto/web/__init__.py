"""The web app (`impasto serve`, the optional extra `impasto[web]`): a FastAPI app with a job queue
persisted under a data folder and a one-page UI.

    app.py       the app: API, page, error handling, the workers' life cycle
    api.py       the JSON API under /api
    options.py   a job's settings JSON -> TransferConfig (presets, refused settings)
    uploads.py   uploaded images: limits, type by content, decoding
    jobs.py      the queue and its workers, cancelling, progress events
    store.py     job state in SQLite, images in files
    settings.py  the server's settings (no third-party imports)
    server.py    uvicorn
    static/      the page: plain HTML, CSS and JS, no build step

Nothing here is imported by the core; `import impasto` works without FastAPI.
"""
