// Names the documentation samples take from the app around them.
export {};
