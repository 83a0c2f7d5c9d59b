"""A deployment package as a request carries it: the base64 `ZipFile`, decoded under AWS's size
limit. Reading what is inside the zip is `engine.registry.codezip`'s work.
"""

from __future__ import annotations

import base64
import binascii
import io
import zipfile
from typing import Final

from engine.errors import InvalidParameterValueException, RequestEntityTooLargeException
from engine.model.limits import MAX_ZIP_BYTES

MSG_BAD_ZIP: Final = (
    "Could not unzip uploaded file. Please check your file, then try to upload again."
)


def decode_zip_file(zip_b64: str) -> bytes:
    """Decode a JSON ZipFile (base64); enforce the direct-upload size limit.

    The limit is checked on the decoded bytes ("Zipped size must be smaller than 52428800 bytes",
    413) rather than on the whole request as AWS does ("Request must be smaller than 70167211 bytes
    for the CreateFunction operation"): the API layer owns request sizes.
    """
    # Reject from the encoded length before decoding: any text longer than the encoding of
    # MAX_ZIP_BYTES decodes to more than MAX_ZIP_BYTES.
    if len(zip_b64) > 4 * -(-MAX_ZIP_BYTES // 3):
        raise _zip_too_large()
    try:
        zip_bytes = base64.b64decode(zip_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterValueException(MSG_BAD_ZIP) from None
    if len(zip_bytes) >= MAX_ZIP_BYTES:
        raise _zip_too_large()
    if not zipfile.is_zipfile(io.BytesIO(zip_bytes)):  # its end record: a cheap first look
        raise InvalidParameterValueException(MSG_BAD_ZIP)
    return zip_bytes


def _zip_too_large() -> RequestEntityTooLargeException:
    return RequestEntityTooLargeException(f"Zipped size must be smaller than {MAX_ZIP_BYTES} bytes")
