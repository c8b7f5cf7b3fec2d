"""CSV imports: reading the file (`reading`), what each resource takes (`resources`), running a job (`runner`)."""
