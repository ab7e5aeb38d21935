// The API docs: Swagger UI on the app's own schema (served at /docs only by a server without a token).
SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
