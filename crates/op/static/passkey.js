// The browser's side of a passkey sign-in (served as /passkey.js; the page carries no inline script): read the
// options from the form, ask the authenticator, post the assertion back in the same form. A cancelled or failed
// ceremony posts an empty answer, which the provider refuses like any failed attempt.
(function () {
  var field = document.getElementById('passkey-options');
  if (!field || !window.PublicKeyCredential) { return; }
  var form = field.form;
  function dec(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) { s += '='; }
    var b = atob(s), a = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) { a[i] = b.charCodeAt(i); }
    return a.buffer;
  }
  function enc(buf) {
    var a = new Uint8Array(buf), s = '';
    for (var i = 0; i < a.length; i++) { s += String.fromCharCode(a[i]); }
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  var options = JSON.parse(field.value);
  var pk = options.publicKey;
  pk.challenge = dec(pk.challenge);
  (pk.allowCredentials || []).forEach(function (c) { c.id = dec(c.id); });
  navigator.credentials.get({ publicKey: pk }).then(function (c) {
    var r = c.response;
    form.elements.credential.value = JSON.stringify({
      id: c.id,
      rawId: enc(c.rawId),
      type: c.type,
      extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: {
        authenticatorData: enc(r.authenticatorData),
        clientDataJSON: enc(r.clientDataJSON),
        signature: enc(r.signature),
        userHandle: r.userHandle ? enc(r.userHandle) : null
      }
    });
    form.submit();
  }).catch(function () {
    form.elements.credential.value = '';
    form.submit();
  });
})();
