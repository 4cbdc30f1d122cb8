"""Tests for seekapi."""
