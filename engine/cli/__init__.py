"""The ``lambdalet`` command: ``serve`` starts the daemon; every other command is an HTTP request to
the daemon's unix socket (`engine.cli.client`), with the AWS CLI's option names and shapes."""
