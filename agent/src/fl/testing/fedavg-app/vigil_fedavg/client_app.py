"""Flower requires a ClientApp component; in the interop test the SuperNodes are Vigil agents, which never run it."""

from flwr.clientapp import ClientApp

app = ClientApp()
