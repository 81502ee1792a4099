// Swagger UI over the app's OpenAPI schema (loaded with the session cookie).
document.addEventListener("DOMContentLoaded", () => {
  // validatorUrl null: no badge fetched from validator.swagger.io (offline; the schema is not sent anywhere)
  SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, tryItOutEnabled: false, validatorUrl: null });
});
