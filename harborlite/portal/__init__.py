"""The web portal: server-rendered pages over the API's queries and permission function."""
