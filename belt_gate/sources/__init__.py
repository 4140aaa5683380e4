"""What a certification reads from outside: the belts over GraphQL, the chains over JSON-RPC (with deadlines and
budgets), or a recorded run in their place; the rules do no I/O."""
