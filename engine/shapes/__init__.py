"""AWS service models: shapes, their constraints, and the words AWS uses when one is broken.

Pure: the data under ``data/`` is botocore's service models without documentation (written by
``scripts/gen_service_models.py``); every service the engine speaks validates its requests and
shapes its errors from here, so a new operation gets AWS's checks by being in the model.
"""
