"""The client shape of seeds/viperhttp-ota.md (one requests.post per step, no Session, so every
request opens its own connection), speaking the `viperhttp` dialect the other two benchmark
clients speak: X-OTA-Token, /ota/chunk?offset=N, expected_size and expected_sha256 at begin,
finalize without set_boot or reboot. Prints the upload's elapsed seconds as `elapsed_s=<float>`.

Usage: seed_client.py <base-url> <token> <chunk-size> <image-path>
"""

import hashlib
import sys
import time

import requests


def check(response, step):
    if response.status_code < 200 or response.status_code >= 300:
        raise SystemExit(f"{step} answered HTTP {response.status_code}: {response.text[:200]}")
    return response


def main():
    base_url, token, chunk_size, image_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with open(image_path, "rb") as image_file:
        image = image_file.read()
    digest = hashlib.sha256(image).hexdigest()
    auth = {"X-OTA-Token": token}
    chunk_headers = {**auth, "Content-Type": "application/octet-stream"}

    started = time.perf_counter()
    check(
        requests.post(
            f"{base_url}/ota/begin",
            json={"expected_size": len(image), "expected_sha256": digest, "force": True},
            headers=auth,
        ),
        "begin",
    )
    for offset in range(0, len(image), chunk_size):
        check(
            requests.post(
                f"{base_url}/ota/chunk",
                params={"offset": offset},
                data=image[offset : offset + chunk_size],
                headers=chunk_headers,
            ),
            f"chunk @ offset {offset}",
        )
    finalize = check(
        requests.post(
            f"{base_url}/ota/finalize",
            json={"set_boot": False, "strict_size": True, "reboot": False},
            headers=auth,
        ),
        "finalize",
    )
    elapsed = time.perf_counter() - started
    if finalize.json().get("sha256") != digest:
        raise SystemExit(f"finalize reported another digest: {finalize.text[:200]}")
    print(f"elapsed_s={elapsed:.6f}")


if __name__ == "__main__":
    main()
