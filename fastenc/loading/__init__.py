"""From a folder or Hub id to a ready model: checkpoint files, tensor-name mapping, assembly."""
