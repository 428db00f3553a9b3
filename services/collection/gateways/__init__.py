"""Interfaces to the world outside the tax database (SMS, notifications, the banks) and their local
stand-ins."""
