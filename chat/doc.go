// Package chat is qun's group rooms (群): groups, roles, joining,
// announcements, messages, history, moderation, portraits and group tools
// (FEATURES C1–C9). See docs/ops/chat.md for the client ops.
package chat
