// Show when the page was built in the reader's own time zone.
for (const el of document.querySelectorAll("time[datetime]")) {
  el.textContent = new Date(el.dateTime).toLocaleTimeString();
}
