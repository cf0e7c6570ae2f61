"""Model definitions: heads shared by every family, and one sub-package per architecture family."""
