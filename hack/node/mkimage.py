#!/usr/bin/env python3
"""Make a one-layer container image as a `docker save` archive, without a registry or a daemon.

    mkimage.py OUT.tar NAME:TAG ROOTFS_DIR ENTRYPOINT_JSON [CMD_JSON]

The real node's containerd imports the archive with `ctr -n k8s.io images import`. Files are
stored owned by root with a zero mtime, in sorted order, so the same input gives the same image
ID and a rebuilt cache imports as "unchanged".
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile


def layer(rootfs: str) -> bytes:
    """The root filesystem as an uncompressed tar, reproducible byte for byte."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory, subdirs, files in os.walk(rootfs):
            subdirs.sort()
            for name in sorted(subdirs + files):
                path = os.path.join(directory, name)
                info = tar.gettarinfo(path, os.path.relpath(path, rootfs))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if info.isfile():
                    with open(path, "rb") as data:
                        tar.addfile(info, data)
                else:
                    tar.addfile(info)
    return out.getvalue()


def image_config(diff_id: str, entrypoint: list[str], cmd: list[str] | None) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": entrypoint,
            "Cmd": cmd,
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "hack/node/mkimage.py"}],
    }
    return json.dumps(config, sort_keys=True).encode()


def main(argv: list[str]) -> None:
    out, ref, rootfs, entrypoint = argv[:4]
    cmd = json.loads(argv[4]) if len(argv) > 4 else None
    blob = layer(rootfs)
    config = image_config("sha256:" + hashlib.sha256(blob).hexdigest(), json.loads(entrypoint), cmd)
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": ["layer.tar"]}]
    members = [
        (config_name, config),
        ("layer.tar", blob),
        ("manifest.json", json.dumps(manifest).encode()),
    ]
    with tarfile.open(out + ".tmp", "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(sys.argv[1:])
