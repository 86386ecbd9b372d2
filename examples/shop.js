// The example shop's product list: a button per catalogue entry, marked with
// data-pocketrec-item so that <pocket-recs> records a click on it (docs/own-data.md).
// An external module rather than an inline script, so that a strict CSP (script-src 'self')
// allows it.
const response = await fetch('shop-catalogue.json');
const products = await response.json();
const list = document.getElementById('products');
for (const product of products) {
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.pocketrecItem = product.id;
  button.textContent = `${product.name} (${product.category})`;
  list.append(button);
}
