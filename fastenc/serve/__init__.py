"""`fastenc serve`: an HTTP server speaking TEI's and OpenAI's embedding APIs, with token-budget dynamic batching."""
