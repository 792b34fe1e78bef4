"""Talking to ION: `client.IonClient` (tokens, retries, gql), `auth` (the token cache),
`errors.translate` (ION's failures as the bridge's), `resources` (ResourceEnum spellings)."""
