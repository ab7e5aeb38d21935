"""The web app (`impasto serve`, the optional extra `impasto[web]`): a FastAPI app with a job queue
persisted under a data folder and a one-page UI. Jobs are stills, clips (with impasto[video]) and
comparisons of strengths.

    app.py       the app: API, page, error handling, the workers' life cycle
    api.py       the JSON API under /api
    schema.py    the API's answers as Pydantic models, for the OpenAPI schema
    options.py   a job's settings JSON -> TransferConfig and VideoConfig (presets, refused settings)
    uploads.py   uploaded images and clips: limits, type by content, decoding or probing
    jobs.py      the queue and its workers, cancelling, progress events
    runs.py      what a worker does with each kind of job
    runners.py   where jobs run: this machine's devices, or a Ray cluster
    store.py     job state in SQLite, files in a folder each
    settings.py  the server's settings (no third-party imports)
    server.py    uvicorn
    static/      the page: plain HTML, CSS and JS, no build step

Nothing here is imported by the core; `import impasto` works without FastAPI.
"""
