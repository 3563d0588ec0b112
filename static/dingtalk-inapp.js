// Silent login (免登) for pages opened inside the DingTalk client from the app's home URL
// `…?corpid=$CORPID$`: DingTalk's JSAPI (or the sandbox's stand-in) gives a code, the
// service signs the person in with it. Resolves to the answer
// `{userid, username, token, refreshToken, handoffUrl}`, or null outside the client;
// rejects with the service's `{code, msg}` when the login is refused.
export async function signInInsideDingTalk() {
  const corpId = new URLSearchParams(window.location.search).get("corpid");
  if (!corpId || !/DingTalk/i.test(navigator.userAgent)) return null;
  const config = await (await fetch("/user/dingtalk/client-config")).json();
  if (!config.inClientLogin) return null;
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
  if (!response.ok) throw { code: body.code || response.status, msg: body.msg || "" };
  return body;
}

export function describeFailure(failure) {
  return `钉钉免登失败 · DingTalk sign-in failed (${failure.code || "?"}): ${failure.msg || ""}`;
}
