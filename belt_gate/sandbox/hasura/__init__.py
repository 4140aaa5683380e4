"""A Hasura-dialect GraphQL server over a reference belt's SQLite file (the sandbox's Hasura).

`sdl` renders the schema Hasura would serve for an Envio schema, `sql` turns GraphQL arguments
into parameterised SQLite SQL, `app` is the starlette application; run it with
`python -m belt_gate.sandbox.hasura --db PATH --schema schema.graphql --port P`.
"""
