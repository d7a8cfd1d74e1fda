"""The technician's phone: reads the terminal's enrolment QR off its staff screen, asks the
centre for a voucher bound to that terminal, key and screen nonce, and shows the voucher
to the terminal's own camera or serial reader. On-site enrolment with no typing.

    phone = TechnicianPhone(centre.provisioning, centre.url, gate_id="xa-l2-g07")
    uri = phone.read_screen(daemon_screen_url)        # decodes /enrol/qr.png (real decoder)
    voucher = phone.voucher_for(uri)                  # the centre mints and signs
    phone.show_to_reader(sim_serial_reader, voucher)  # or phone.show_to_camera(control, ...)

In the field the phone is the operator's app talking to the centre over its own
authenticated channel; here it calls the stand-in's ``Provisioning`` directly.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from device.enrol.voucher import EnrolmentUri, parse_enrolment_uri
from sim.errors import SimError


class TechnicianPhone:
    def __init__(self, provisioning: Any, centre_url: str, *, gate_id: str,
                 ttl_s: float = 600.0) -> None:
        self.provisioning = provisioning
        self.centre_url = centre_url
        self.gate_id = gate_id
        self.ttl_s = ttl_s
        self.vouchers: list[str] = []

    def read_screen(self, screen_url: str, *, timeout_s: float = 10.0) -> EnrolmentUri:
        """Photograph the staff screen's enrolment QR and decode it (zxing-cpp, as a phone
        would); SimError when the screen shows none (the terminal takes no voucher)."""
        import cv2
        import numpy as np

        from device.decode.zxing_backend import ZxingDecoder

        url = screen_url.rstrip("/") + "/enrol/qr.png"
        end = time.monotonic() + timeout_s
        while True:
            try:
                r = httpx.get(url, timeout=5)
            except httpx.HTTPError as exc:
                raise SimError(f"the phone cannot see the screen at {screen_url}: {exc}") from exc
            if r.status_code == 200:
                break
            if time.monotonic() > end:
                raise SimError(f"the screen shows no enrolment QR (HTTP {r.status_code})")
            time.sleep(0.1)
        img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_GRAYSCALE)
        found = ZxingDecoder().decode(np.asarray(img, np.uint8))
        for payload in found:
            try:
                return parse_enrolment_uri(payload.decode("ascii", "replace"))
            except ValueError:
                continue
        raise SimError("the phone read no scangate enrolment QR on the screen")

    def voucher_for(self, uri: EnrolmentUri) -> str:
        minted = self.provisioning.mint_token(self.gate_id, ttl_s=self.ttl_s,
                                              terminal_id=uri.terminal_id,
                                              key_fingerprint=uri.key_fingerprint,
                                              nonce=uri.nonce)
        voucher = str(self.provisioning.voucher(minted, self.centre_url))
        self.vouchers.append(voucher)
        return voucher

    @staticmethod
    def show_to_reader(reader: Any, voucher: str) -> None:
        """Hold the phone under a serial QR reader: it types the voucher down the line."""
        reader.send(voucher)

    @staticmethod
    def voucher_frame(voucher: str, size: tuple[int, int] = (640, 480)) -> Any:
        from sim.scenes import SceneSpec, render_scene

        return render_scene(SceneSpec(payload=voucher, size=size, module_px=3.0, noise=1.0))

    def show_to_camera(self, control: Any, voucher: str,
                       size: tuple[int, int] = (640, 480)) -> None:
        """Hold the phone up to the simulated camera (``SimCameraControl``)."""
        control.hold_up(self.voucher_frame(voucher, size), "voucher")

    def enrol(self, screen_url: str, *, reader: Any = None, camera: Any = None) -> str:
        """The whole gesture: read the screen, get the voucher, show it."""
        voucher = self.voucher_for(self.read_screen(screen_url))
        if reader is not None:
            self.show_to_reader(reader, voucher)
        elif camera is not None:
            self.show_to_camera(camera, voucher)
        else:
            raise SimError("show the voucher to what? give reader= or camera=")
        return voucher
