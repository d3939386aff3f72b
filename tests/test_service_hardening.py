"""The real scheduler process against hostile requests: nobody forges a line in its log."""

from __future__ import annotations

import httpx
import pytest

from tests.service_helpers import scheduler_process

pytestmark = pytest.mark.slow


def test_a_newline_in_a_request_never_forges_a_log_line(tmp_path):
    with scheduler_process(tmp_path) as svc:
        admin = {"Authorization": f"token {svc.tokens['admin']}"}
        api = svc.url + "api/v1"
        httpx.get(api + "/nothing%0A[I 2026-01-01 00:00:00 hai] FORGED-1")
        httpx.get(api + "/chains?x%0AFORGED-2=1", headers=admin)
        httpx.patch(api + "/users/bob%0AFORGED-3", json={"admin": False}, headers=admin)
        httpx.get(api + "/chains/a%0D%0AFORGED-4", headers=admin)
        httpx.get(api + "/devservers/x%0A[I 2026-01-01 00:00:00 hai] FORGED-5", headers=admin)
        log = svc.log_path.read_text()
    assert "FORGED-1" in log or "FORGED-3" in log, "the requests were logged"
    for line in log.splitlines():
        assert not line.lstrip().startswith(("FORGED", "[I 2026-01-01")), line
