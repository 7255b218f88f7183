// Body of the web hooks Kratos calls after a flow completes, for the
// identity edge's auth event log. Only what the log keeps: never passwords,
// codes, tokens or cookies (ctx.request_cookies is deliberately unused).
function(ctx)
  local hdr(name) =
    if std.objectHas(ctx.request_headers, name) && std.length(ctx.request_headers[name]) > 0
    then ctx.request_headers[name][0] else null;
  local ident = if std.objectHas(ctx, 'identity') && ctx.identity != null then ctx.identity else null;
  {
    identity_id: if ident != null then ident.id else null,
    email: if ident != null && std.objectHas(ident.traits, 'email') then ident.traits.email else null,
    flow_id: ctx.flow.id,
    method: if std.objectHas(ctx.flow, 'active') then ctx.flow.active else null,
    request_url: ctx.request_url,
    // The identity edge sets it; Kratos forwards only a short list of headers.
    ip: hdr('True-Client-Ip'),
    user_agent: hdr('User-Agent'),
  }
