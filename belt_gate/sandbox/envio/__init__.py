"""Real Envio HyperIndex belts for the sandbox: the projects (`project`), and running them (`runner`)."""
