"""provided.al2023 / provided.al2 / provided: the function brings its own runtime.

This directory is what such a sandbox sees at /var/runtime (nothing of lambdalet's runs in
it): the function's executable ``bootstrap`` (``/var/task/bootstrap``, else
``/opt/bootstrap``) is the runtime, and talks to AWS's HTTP Runtime API at
``$AWS_LAMBDA_RUNTIME_API`` (127.0.0.1:9001).
"""
