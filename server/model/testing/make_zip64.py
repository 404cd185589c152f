#!/usr/bin/env python3
"""Writes a Zip64 archive with Python's zipfile for zip_check_test: every
central directory entry keeps its sizes and offset in a Zip64 extra field,
the directory ends with a Zip64 end record and its locator, and one member's
local header is Zip64 too (force_zip64). Real archives need Zip64 only past
4 GiB; zipfile's limits are lowered here (as CPython's own tests do) so that
a small file takes the same form.

Members: zip64/stored (1000 bytes, stored), zip64/deflated (5000 bytes,
deflated), zip64/forced (300 bytes, stored, written through
ZipFile.open(..., force_zip64=True)). Their bytes are the member's name
repeated, so that the test can find and damage each.
"""
import argparse
import os
import zipfile

MEMBERS = [("zip64/stored", 1000, zipfile.ZIP_STORED),
           ("zip64/deflated", 5000, zipfile.ZIP_DEFLATED),
           ("zip64/forced", 300, zipfile.ZIP_STORED)]


def payload(name, size):
    text = (name + ";") * (size // (len(name) + 1) + 1)
    return text[:size].encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)

    saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 64, 1
    try:
        tmp = f"{args.out}.tmp{os.getpid()}"
        with zipfile.ZipFile(tmp, "w") as z:
            for name, size, method in MEMBERS:
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                info.compress_type = method
                with z.open(info, "w", force_zip64=True) as f:
                    f.write(payload(name, size))
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved

    with zipfile.ZipFile(tmp) as z:
        bad = z.testzip()
        if bad is not None:
            raise SystemExit(f"{tmp}: member {bad} fails its CRC")
    with open(tmp, "rb") as f:
        data = f.read()
    # The forms the test relies on: the Zip64 end record and its locator.
    if b"PK\x06\x06" not in data or b"PK\x06\x07" not in data:
        raise SystemExit(f"{tmp}: no Zip64 end record; zipfile wrote another form")
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
