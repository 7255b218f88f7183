// Google (and any OpenID Connect provider with standard claims) → identity.
//
// Kratos v1.3.1 hands the provider's claims in as `claims` (the ID token's,
// or userinfo's with claims_source: userinfo). Traits follow
// ../identity.schema.json: email (required) and name. An email the provider
// says it has verified becomes a verified address, so the learner is not
// asked to verify it again; any other email is verified by code as usual.
// Without an email Kratos shows the registration form to ask for one.
local claims = { email_verified: false } + std.extVar('claims');
local email = if 'email' in claims then std.asciiLower(std.stripChars(claims.email, ' ')) else '';

{
  identity: {
    traits: {
      [if email != '' then 'email']: email,
      // The schema allows 200 characters; a longer name is cut, not refused.
      [if 'name' in claims && claims.name != '' then 'name']: std.substr(claims.name, 0, 200),
    },
    verified_addresses:
      if email != '' && claims.email_verified == true then [{ via: 'email', value: email }] else [],
  },
}
