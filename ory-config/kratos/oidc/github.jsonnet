// GitHub → identity.
//
// Kratos' github provider (scope user:email) reads /user and /user/emails:
// `email` is the primary address and `email_verified` is what GitHub says
// about it; `name` is the profile name, often empty, so the login
// (`nickname`) stands in. Traits follow ../identity.schema.json. Only an
// address GitHub has verified becomes a verified address. Without a primary
// email Kratos shows the registration form to ask for one.
local claims = { email_verified: false } + std.extVar('claims');
local email = if 'email' in claims then std.asciiLower(std.stripChars(claims.email, ' ')) else '';
local name =
  if 'name' in claims && claims.name != '' then claims.name
  else if 'nickname' in claims then claims.nickname
  else '';

{
  identity: {
    traits: {
      [if email != '' then 'email']: email,
      // The schema allows 200 characters; a longer name is cut, not refused.
      [if name != '' then 'name']: std.substr(name, 0, 200),
    },
    verified_addresses:
      if email != '' && claims.email_verified == true then [{ via: 'email', value: email }] else [],
  },
}
