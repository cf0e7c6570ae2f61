"""fastenc inside other stacks: Ray Data batch jobs, a Ray Serve deployment, a Triton Python-backend model."""
