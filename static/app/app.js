// The reference single-page app: how an SPA consumes the login handoff
// `#/login?userid=..&username=..&token=..&refreshToken=..`, calls the API with the token,
// refreshes it once when it expires, and logs out. Plain ES module, no build step.

import { describeFailure, signInInsideDingTalk } from "/static/dingtalk-inapp.js";

const ACCESS = "token";
const REFRESH = "refreshToken";
const USER = "user";
const view = document.getElementById("view");

// 1. The handoff: read the values once, keep them, and take them out of the address bar
//    and the history before anything else runs. With HANDOFF_MODE=code the URL carries a
//    one-time code instead, exchanged here for the same four values.
function keep(values) {
  localStorage.setItem(ACCESS, values.token);
  localStorage.setItem(REFRESH, values.refreshToken);
  localStorage.setItem(USER, JSON.stringify({ userid: values.userid, username: values.username }));
}

async function acceptHandoff() {
  const hash = window.location.hash;
  if (!hash.startsWith("#/login?")) return;
  const params = new URLSearchParams(hash.slice("#/login?".length));
  history.replaceState(null, "", window.location.pathname + window.location.search + "#/");
  const code = params.get("code");
  if (code) {
    const response = await fetch("/api/token/exchange", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code }),
    });
    if (response.ok) keep(await response.json());
    return;
  }
  const token = params.get("token");
  const refreshToken = params.get("refreshToken");
  if (token && refreshToken) {
    keep({ token, refreshToken, userid: params.get("userid"), username: params.get("username") });
  }
}

function clearTokens() {
  localStorage.removeItem(ACCESS);
  localStorage.removeItem(REFRESH);
  localStorage.removeItem(USER);
}

function toLogin() {
  clearTokens();
  window.location.assign("/login");
}

// 2. The "request interceptor": every API call carries the bearer token; an expired token
//    (40103) is refreshed once and the call retried; any other 401 ends the session.
let refreshing = null;

async function refreshTokens() {
  const refreshToken = localStorage.getItem(REFRESH);
  if (!refreshToken) return false;
  const response = await fetch("/api/token/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refreshToken }),
  });
  if (!response.ok) return false;
  const body = await response.json();
  localStorage.setItem(ACCESS, body.token);
  localStorage.setItem(REFRESH, body.refreshToken);
  return true;
}

export async function api(path, options = {}, retried = false) {
  const headers = new Headers(options.headers || {});
  const token = localStorage.getItem(ACCESS);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(path, { ...options, headers });
  if (response.status !== 401) return response;
  const body = await response.clone().json().catch(() => ({}));
  if (body.code === 40103 && !retried) {
    // Two calls failing at once share one refresh.
    refreshing = refreshing || refreshTokens().finally(() => { refreshing = null; });
    if (await refreshing) return api(path, options, true);
  }
  toLogin();
  throw new Error("signed out");
}

// 3. The pages.
function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function formatTime(value) {
  return value ? new Date(value).toLocaleString() : "—";
}

async function home() {
  if (!localStorage.getItem(ACCESS)) {
    view.replaceChildren(
      element("h1", {}, "未登录 · Not signed in"),
      element("p", { class: "muted" }, "请先登录。"),
      element("a", { class: "btn btn-primary", href: "/login", id: "go-login" }, "登录 · Log in"),
    );
    return;
  }
  const response = await api("/api/me");
  if (!response.ok) {
    view.replaceChildren(element("p", { class: "alert", role: "alert" }, "暂时无法加载账号信息，请稍后再试。"));
    return;
  }
  const me = await response.json();
  const dingtalk = me.linkedAccounts.find((account) => account.provider === "dingtalk");
  const avatar = dingtalk && dingtalk.avatarUrl
    ? element("img", { class: "avatar", src: dingtalk.avatarUrl, alt: "" })
    : element("div", { class: "avatar" }, (me.name || me.username).slice(0, 1));
  const accounts = element("ul", { class: "linked", id: "linked-accounts" });
  for (const account of me.linkedAccounts) {
    accounts.append(element("li", { class: "linked-item" },
      element("img", { src: `/static/img/${account.provider}.svg`, alt: "", width: "28", height: "28" }),
      element("div", {},
        element("strong", {}, account.nick), element("br"),
        element("span", { class: "muted small-inline" }, `${account.provider} · ${account.uid} · ${formatTime(account.lastLoginAt)}`))));
  }
  const logout = element("button", { class: "btn btn-secondary", id: "logout", type: "button" }, "退出登录 · Log out");
  logout.addEventListener("click", async () => {
    await api("/api/logout", { method: "POST" }).catch(() => null);
    clearTokens();
    window.location.assign("/login");
  });
  view.replaceChildren(
    element("div", { class: "spa-user" }, avatar,
      element("div", {}, element("h1", { id: "spa-name" }, me.name), element("p", { class: "muted", id: "spa-username" }, me.username))),
    element("h2", {}, "已绑定账号 · Linked accounts"),
    me.linkedAccounts.length ? accounts : element("p", { class: "muted" }, "—"),
    element("p", {}, element("a", { href: "/account" }, "账号设置 · Account settings")),
    logout,
  );
}

// 4. Inside the DingTalk client (免登): opened from the app's home URL
//    `…/app/?corpid=$CORPID$`, the page signs in without a click. Outside the client, or
//    already signed in, nothing changes.
async function signInInside() {
  if (localStorage.getItem(ACCESS)) return;
  try {
    const answer = await signInInsideDingTalk();
    if (!answer) return;
    keep(answer);
  } catch (failure) {
    view.replaceChildren(element("p", { class: "alert", role: "alert", id: "inapp-error" }, describeFailure(failure)));
    throw failure;
  }
}

acceptHandoff().then(signInInside).then(home, () => null);
window.addEventListener("hashchange", () => { acceptHandoff().then(home); });
