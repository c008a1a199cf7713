"""The engine: parse, check and run workflows. It knows nothing of HTTP or databases.

plan = compile_flow(parse_flow(document), default_registry())
result = await run(plan, {"input-1": "Alice"}, RunContext())
"""
