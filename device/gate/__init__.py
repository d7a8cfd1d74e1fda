"""Gate outputs: the relay, green/red LEDs, the buzzer and an optional passage sensor.

Everything goes through gpiozero; the pin factory is chosen by name in the
configuration (``lgpio``, ``rpigpio`` or ``mock``). See ``device.gate.outputs.Gate``.
"""

from device.gate.factory import PIN_FACTORIES, make_pin_factory
from device.gate.outputs import Gate, GateConfig

__all__ = ["PIN_FACTORIES", "Gate", "GateConfig", "make_pin_factory"]
