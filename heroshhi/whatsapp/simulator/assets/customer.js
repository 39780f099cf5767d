// The "simulate a customer" page: talks only to the simulator's /_sim/ control API.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const numberSelect = $("business-number");
  const customerNumber = $("customer-number");
  const customerName = $("customer-name");
  const conversation = $("conversation");
  const notice = $("notice");
  let lastRendered = "";

  async function api(method, path, body) {
    const response = await fetch("/_sim/" + path, {
      method: method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json();
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new Error(error.message || "The simulator said no (" + response.status + ").");
    }
    return data;
  }

  function who() {
    return {
      phone_number_id: numberSelect.value,
      from: customerNumber.value.trim().replace(/^\+/, ""),
      name: customerName.value.trim() || "Customer",
    };
  }

  async function act(action) {
    try {
      notice.textContent = "";
      const result = await action();
      if (result && result.delivered_status === null) {
        notice.textContent = "The app could not be reached (no webhook URL, or it is down); Meta would retry.";
      } else if (result && result.delivered_status !== undefined && result.delivered_status !== 200) {
        notice.textContent = "The app answered " + result.delivered_status + "; Meta will retry.";
      }
      await refresh();
    } catch (error) {
      notice.textContent = error.message;
    }
  }

  function inbound(fields) {
    return act(() => api("POST", "inbound", Object.assign(who(), fields)));
  }

  async function loadNumbers() {
    try {
      const data = await api("GET", "numbers");
      numberSelect.replaceChildren();
      for (const number of data.numbers) {
        const option = document.createElement("option");
        option.value = number.phone_number_id;
        option.textContent = "+" + number.display_phone_number + " (" + number.verified_name + ")";
        numberSelect.append(option);
      }
      if (!data.numbers.length) {
        notice.textContent = "No business number is registered with the simulator yet.";
      }
    } catch (error) {
      notice.textContent = error.message;
    }
  }

  function choiceButton(label, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.addEventListener("click", onClick);
    return button;
  }

  function render(data) {
    const key = JSON.stringify(data);
    if (key === lastRendered) return;
    lastRendered = key;
    $("window-state").textContent = "24 h window: " + (data.window_open ? "open" : "closed");
    $("marketing-state").textContent =
      "Marketing: " + (data.marketing === "stop" ? "stopped" : "allowed");
    conversation.replaceChildren();
    for (const message of data.messages) {
      const item = document.createElement("li");
      item.className = message.direction + (message.status === "failed" ? " failed" : "");
      item.dataset.wamid = message.wamid;
      item.dataset.direction = message.direction;
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = message.text || "[" + message.type + "]";
      item.append(text);
      const choices = document.createElement("div");
      choices.className = "choices";
      if (message.template && message.template.buttons) {
        for (const label of message.template.buttons) {
          choices.append(choiceButton(label, () => inbound({
            type: "button", button_text: label, button_payload: label, context_id: message.wamid,
          })));
        }
      }
      const interactive = message.interactive;
      if (interactive && interactive.type === "button") {
        for (const button of interactive.action.buttons) {
          choices.append(choiceButton(button.reply.title, () => inbound({
            type: "interactive", reply_id: button.reply.id, reply_title: button.reply.title,
            context_id: message.wamid,
          })));
        }
      }
      if (interactive && interactive.type === "list") {
        for (const section of interactive.action.sections || []) {
          for (const row of section.rows || []) {
            choices.append(choiceButton(row.title, () => inbound({
              type: "interactive", interactive_type: "list_reply", reply_id: row.id,
              reply_title: row.title, reply_description: row.description, context_id: message.wamid,
            })));
          }
        }
      }
      if (choices.childElementCount) item.append(choices);
      const meta = document.createElement("span");
      meta.className = "meta status";
      const when = new Date(message.timestamp * 1000).toLocaleTimeString();
      let label = message.direction === "out" ? "business · " + message.status : "you · " + message.status;
      if (message.error_code) label += " (error " + message.error_code + ")";
      meta.textContent = label + " · " + when;
      item.append(meta);
      conversation.append(item);
    }
    conversation.scrollTop = conversation.scrollHeight;
  }

  async function refresh() {
    const current = who();
    if (!current.phone_number_id || !/^\d{7,15}$/.test(current.from)) return;
    const params = new URLSearchParams({ phone_number_id: current.phone_number_id, wa_id: current.from });
    try {
      const data = await api("GET", "conversation?" + params.toString());
      if ($("auto-read").checked &&
          data.messages.some((m) => m.direction === "out" && m.status === "delivered")) {
        await api("POST", "read", { phone_number_id: current.phone_number_id, to: current.from });
      }
      render(data);
    } catch (error) {
      notice.textContent = error.message;
    }
  }

  $("compose").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("message").value.trim();
    if (!text) {
      notice.textContent = "Type a message first.";
      return;
    }
    $("message").value = "";
    inbound({ type: "text", text: text });
  });
  for (const id of ["send-stop", "send-start"]) {
    $(id).addEventListener("click", (event) => inbound({ type: "text", text: event.target.dataset.text }));
  }
  $("stop-promotions").addEventListener("click", () =>
    act(() => api("POST", "user_preferences", Object.assign(who(), { wa_id: who().from, value: "stop" }))));
  $("resume-promotions").addEventListener("click", () =>
    act(() => api("POST", "user_preferences", Object.assign(who(), { wa_id: who().from, value: "resume" }))));
  $("open-chat").addEventListener("click", () =>
    act(() => api("POST", "read", { phone_number_id: who().phone_number_id, to: who().from })));
  $("send-location").addEventListener("click", () => inbound({
    type: "location",
    location: { latitude: 19.076, longitude: 72.8777, name: "Shop", address: "Linking Road, Mumbai" },
  }));
  $("send-document").addEventListener("click", () => inbound({
    type: "document", media: { filename: "requirements.pdf", mime_type: "application/pdf", caption: "My requirements" },
  }));
  $("send-image").addEventListener("click", () => inbound({
    type: "image", media: { filename: "photo.png", mime_type: "image/png", caption: "Photo" },
  }));
  $("place-call").addEventListener("click", () =>
    act(() => api("POST", "calls", Object.assign(who(), { event: "connect" }))));
  for (const input of [numberSelect, customerNumber]) {
    input.addEventListener("change", () => { lastRendered = ""; refresh(); });
  }

  loadNumbers().then(refresh);
  setInterval(refresh, 1000);
})();
