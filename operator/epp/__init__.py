"""The Endpoint Picker (EPP): heteropool's routing policies behind Envoy's ext_proc protocol.

Envoy (standalone, or the platform's Gateway) carries every byte; for each request it asks this
process, over one ext_proc gRPC stream, which replica serves it. See docs/endpoint-picker.md.
"""
