// ipywidgets 8 typesets widget labels with MathJax 2's API (MathJax.Hub.Queue); the site
// runs MathJax 3. Map the one call onto MathJax 3 before the widgets are drawn (on "load").
window.addEventListener("load", () => {
  const mj = window.MathJax;
  if (!mj || mj.Hub || typeof mj.typesetPromise !== "function") return;
  mj.Hub = {
    Queue: (job) => {
      const element = Array.isArray(job) ? job[2] : undefined;
      if (element) mj.startup.promise.then(() => mj.typesetPromise([element]));
    },
  };
});
