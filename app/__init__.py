"""Launcher for the web demo from a source checkout; the demo itself is :mod:`restoration.app`."""
