"""Helpers for the tests that are not tests: a loopback Lambda Runtime API, proxies, raw servers."""
