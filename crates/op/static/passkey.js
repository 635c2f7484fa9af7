// The browser's side of passkeys (served as /passkey.js; the pages carry no inline script): read the options
// from the form, ask the authenticator, post its answer back in the same form. A cancelled or failed ceremony
// posts an empty answer, which the provider refuses like any failed attempt.
(function () {
  if (!window.PublicKeyCredential) { return; }
  var creation = document.getElementById('passkey-creation-options');
  if (creation) { return create(creation); }
  var autofill = document.getElementById('passkey-conditional-options');
  if (autofill) { return conditional(autofill); }
  var field = document.getElementById('passkey-options');
  if (!field) { return; }
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
  navigator.credentials.get({ publicKey: requestOptions(field) }).then(function (c) {
    form.elements.credential.value = assertion(c);
    form.submit();
  }).catch(function (e) {
    if (window.console) { console.warn('passkey: ' + e); }
    form.elements.credential.value = '';
    form.submit();
  });

  function requestOptions(field) {
    var pk = JSON.parse(field.value).publicKey;
    pk.challenge = dec(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = dec(c.id); });
    return pk;
  }

  function assertion(c) {
    var r = c.response;
    return JSON.stringify({
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
  }

  // Passkey autofill: the browser offers this site's passkeys among the username field's suggestions
  // (autocomplete="username webauthn"); the chosen one's assertion is posted with the page's ceremony. Nothing
  // is posted when the user picks nothing; another sign-in (a button) navigates away, which ends the request.
  function conditional(field) {
    var form = field.form;
    var check = PublicKeyCredential.isConditionalMediationAvailable;
    if (!check) { return; }
    check.call(PublicKeyCredential).then(function (available) {
      if (!available) { return; }
      return navigator.credentials.get({ mediation: 'conditional', publicKey: requestOptions(field) })
        .then(function (c) {
          form.elements.credential.value = assertion(c);
          form.submit();
        });
    }).catch(function (e) {
      if (window.console) { console.warn('passkey autofill: ' + e); }
    });
  }

  // Registration: the user clicks the button (browsers want a gesture), the authenticator creates a credential.
  function create(field) {
    var form = field.form;
    form.addEventListener('submit', function (ev) {
      if (form.elements.credential.value) { return; }
      ev.preventDefault();
      var options = JSON.parse(field.value);
      var pk = options.publicKey;
      pk.challenge = dec(pk.challenge);
      pk.user.id = dec(pk.user.id);
      (pk.excludeCredentials || []).forEach(function (c) { c.id = dec(c.id); });
      navigator.credentials.create({ publicKey: pk }).then(function (c) {
        var r = c.response;
        form.elements.credential.value = JSON.stringify({
          id: c.id,
          rawId: enc(c.rawId),
          type: c.type,
          extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
          response: {
            attestationObject: enc(r.attestationObject),
            clientDataJSON: enc(r.clientDataJSON),
            transports: r.getTransports ? r.getTransports() : []
          }
        });
        form.submit();
      }).catch(function (e) {
        if (window.console) { console.warn('passkey: ' + e); }
        form.elements.credential.value = 'cancelled';
        form.submit();
      });
    });
  }
})();
