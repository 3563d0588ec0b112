// The login page inside the DingTalk client (免登): signs in without a click and goes on to
// `next` (checked by the server when it rendered the page) or to the SPA's handoff.
import { describeFailure, signInInsideDingTalk } from "/static/dingtalk-inapp.js";

signInInsideDingTalk().then(
  (answer) => {
    if (!answer) return;
    const next = document.getElementById("next-field");
    window.location.assign(next && next.value ? next.value : answer.handoffUrl);
  },
  (failure) => {
    const status = document.getElementById("inapp-status");
    status.textContent = describeFailure(failure);
    status.hidden = false;
  },
);
