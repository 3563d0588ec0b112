// The sandbox's stand-in for DingTalk's JSAPI inside the DingTalk client (served as
// /dingtalk-jsapi.js while the sandbox is on): `dd.requestAuthCode` asks the sandbox for an
// in-client code for the test person named by the page's `?sandbox_identity=` (张三 when
// absent), as the real client would for whoever is signed in to it.
(function () {
  const identity = new URLSearchParams(window.location.search).get("sandbox_identity") || "zhangsan";
  window.dd = {
    env: { platform: "sandbox" },
    requestAuthCode(options) {
      return fetch("/sandbox/dingtalk/client/request-auth-code", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ identity }),
      })
        .then((response) => response.json())
        .then((answer) => {
          if (options.onSuccess) options.onSuccess({ code: answer.code });
          return { code: answer.code };
        })
        .catch((error) => {
          if (options.onFail) options.onFail(error);
          throw error;
        });
    },
  };
})();
