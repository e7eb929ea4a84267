"""llmlake core: CLI, typed params, Spark+Delta session, lake paths, logging."""
