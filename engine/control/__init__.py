"""The control plane's services: functions, versions and aliases (with change hooks), layers, tags,
policies and the bundled examples, as async services over the registry."""
