"""A two-service demo shop that emits real OpenTelemetry traces, metrics and logs.

`shop` (front) calls `payments` (back) over HTTP, so every checkout trace crosses a
process boundary. Both run under `opentelemetry-instrument`, i.e. the standard
zero-code instrumentation, so the telemetry looks like what a real service sends.
Start them with `python -m demo_service` or `demo_service.runner.start_demo`.
"""
