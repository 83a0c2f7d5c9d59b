"""The AWS Lambda REST API (and lambdalet's `/lambdalet/v1/` network API) as ASGI: one module of
handlers per resource, each only translating HTTP to service calls and back; AWS's error
shapes at the boundary (`common.guard`); unknown operations named from botocore's model."""
