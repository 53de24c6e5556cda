"""SOAP client cost: WSDL load + client build, and Retrieve throughput against a bare POST.

Run: ``python bench/soap.py [--requests 400] [--rounds 3]``

* ``build``: ``ettui.api.soap.build_client`` from the packaged WSDL subset
  (parse the WSDL, build zeep's AsyncClient and the httpx client), after one
  warm-up so imports are not counted; also the vendor's full WSDL when it is
  beside the repository (``../shared/reference``). Goal: under 50 ms.
* ``retrieve``: ``SoapApi.inquire`` (one AsyncActivityStatus Retrieve: zeep
  renders the envelope, WS-Security, redacted copy for history, hardened parse,
  name/value read) against the embedded sandbox, versus a bare
  ``httpx.AsyncClient.post`` of the very same envelope bytes that reads the
  body and nothing else, in the same run, over the same loop, sequentially,
  interleaved in 50-request chunks, comparing the medians of the chunk rates
  (the machine may be shared). Goal: the client
  within 0.8 of the bare rate (ratio >= 0.8).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ettui.api.soap import SoapApi, UsernameToken, build_client
from ettui.model import BatchRequest
from ettui.sandbox import Sandbox, SandboxOptions

VENDOR = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "etframework.wsdl"


def time_build(wsdl: str | None, repeat: int = 15) -> tuple[float, float]:
    """(best, median) seconds to load the WSDL and build the client."""
    auth = UsernameToken("bench", "bench")
    build_client(wsdl, auth)  # warm-up: imports and zeep's lazy setup
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        build_client(wsdl, auth)
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


async def time_retrieve(requests: int, rounds: int) -> tuple[float, float]:
    """(client requests/s, bare requests/s): medians over interleaved 50-request chunks."""
    import httpx

    with tempfile.TemporaryDirectory(prefix="ettui-bench-") as tmp:
        async with Sandbox(SandboxOptions(root=Path(tmp), records=5)) as sb:
            info = sb.info
            api = await SoapApi.create(info.soap_url, auth=UsernameToken(info.api_username, info.api_password))
            result = await api.submit(BatchRequest("tracking-extract", {
                "StartDate": "-7d", "EndDate": "today", "OutputFileName": "bench.zip"}))
            captured: list[bytes] = []
            original = api._transport.client.post

            async def capture(url, *, content, headers):  # type: ignore[no-untyped-def]
                captured.append(content)
                return await original(url, content=content, headers=headers)

            api._transport.client.post = capture  # type: ignore[method-assign]
            await api.inquire(result.batch_id)
            api._transport.client.post = original  # type: ignore[method-assign]
            envelope = captured[-1]
            headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"Retrieve"'}
            # The machine is shared: interleave short chunks of each side and compare
            # medians of the chunk rates, so a burst of load hits both sides alike.
            chunk = 50
            client_rates: list[float] = []
            bare_rates: list[float] = []
            async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as bare:
                for _ in range(rounds * max(1, requests // chunk)):
                    started = time.perf_counter()
                    for _ in range(chunk):
                        await api.inquire(result.batch_id)
                    client_rates.append(chunk / (time.perf_counter() - started))
                    started = time.perf_counter()
                    for _ in range(chunk):
                        response = await bare.post(info.soap_url, content=envelope, headers=headers)
                        response.read()
                    bare_rates.append(chunk / (time.perf_counter() - started))
            await api.aclose()
    return statistics.median(client_rates), statistics.median(bare_rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    best, median = time_build(None)
    print(f"build  packaged subset WSDL: best {best * 1000:6.1f} ms  median {median * 1000:6.1f} ms  (goal < 50 ms)")
    if VENDOR.is_file():
        best, median = time_build(str(VENDOR), repeat=5)
        print(f"build  vendor full WSDL:     best {best * 1000:6.1f} ms  median {median * 1000:6.1f} ms  (reference)")
    client, bare = asyncio.run(time_retrieve(args.requests, args.rounds))
    print(f"retrieve  SoapApi.inquire {client:7.0f} req/s   bare httpx POST {bare:7.0f} req/s   "
          f"ratio {client / bare:.2f}  (goal >= 0.80)")


if __name__ == "__main__":
    main()
