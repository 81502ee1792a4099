// Swagger UI over the app's OpenAPI schema (loaded with the session cookie).
document.addEventListener("DOMContentLoaded", () => {
  SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, tryItOutEnabled: false });
});
