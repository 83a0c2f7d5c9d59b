"""Function URLs, the whole feature: the configuration and its API handlers, the URL listener
(an HTTP request in, a payload-2.0 event to Invoke, the response out) and CORS."""
