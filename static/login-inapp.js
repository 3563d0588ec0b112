// The login page inside the DingTalk client (免登): opened with `?corpid=` in a browser whose
// user agent names DingTalk, it asks DingTalk's JSAPI for a code, signs in with it and goes
// on (to `next`, or to the SPA's handoff) without a click. Elsewhere it does nothing.
(async function () {
  const query = new URLSearchParams(window.location.search);
  const corpId = query.get("corpid");
  if (!corpId || !/DingTalk/i.test(navigator.userAgent)) return;
  const config = await (await fetch("/user/dingtalk/client-config")).json();
  if (!config.inClientLogin) return;
  await new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/dingtalk-jsapi.js";
    script.onload = resolve;
    script.onerror = reject;
    document.head.append(script);
  });
  const code = await new Promise((resolve, reject) => {
    const asked = window.dd.requestAuthCode({
      corpId,
      clientId: config.clientId,
      onSuccess: (result) => resolve(result.code),
      onFail: reject,
    });
    if (asked && asked.then) asked.then((result) => resolve(result.code), reject);
  });
  const response = await fetch("/api/dingtalk/inapp-login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ authCode: code }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const status = document.getElementById("inapp-status");
    if (status) {
      status.textContent = `钉钉免登失败 · DingTalk sign-in failed (${body.code || response.status}): ${body.msg || ""}`;
      status.hidden = false;
    }
    return;
  }
  // `next` was checked by the server when it rendered the page.
  const next = document.getElementById("next-field");
  window.location.assign(next && next.value ? next.value : body.handoffUrl);
})();
